"""blindmatch.eval"""
