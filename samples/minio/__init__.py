"""MinIO sample provider: erasure-coded object storage on FTT=0 volumes (see README.md)."""

from .provider import MinioProvider

__all__ = ["MinioProvider"]
