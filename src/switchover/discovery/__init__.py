"""Instance discovery: static lists, Nacos, caching."""
