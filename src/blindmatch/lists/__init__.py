"""blindmatch.lists"""
