"""Health checks that ask each component whether it really serves."""
