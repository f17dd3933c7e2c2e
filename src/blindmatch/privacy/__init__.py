"""blindmatch.privacy"""
