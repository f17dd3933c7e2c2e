"""blindmatch.reporting"""
