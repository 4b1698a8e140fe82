"""Sample providers that follow real services' rules: MinIO and MongoDB."""
