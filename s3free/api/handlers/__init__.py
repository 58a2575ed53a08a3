"""S3 handlers, one module per resource: service, bucket, object, multipart."""
