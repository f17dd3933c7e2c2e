"""blindmatch.moderation"""
