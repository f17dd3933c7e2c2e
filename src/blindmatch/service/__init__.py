"""blindmatch.service"""
