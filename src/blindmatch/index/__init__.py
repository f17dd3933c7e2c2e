"""blindmatch.index"""
