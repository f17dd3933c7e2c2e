"""blindmatch.messaging"""
