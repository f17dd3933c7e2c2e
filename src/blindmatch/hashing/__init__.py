"""blindmatch.hashing"""
