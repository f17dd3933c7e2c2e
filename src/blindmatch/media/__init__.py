"""blindmatch.media"""
