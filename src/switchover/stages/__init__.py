"""The stage catalogue: which stages a tenant config gets, and their steps."""
