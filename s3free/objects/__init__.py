"""The object layer: buckets, objects, multipart, ETags. Storage-facing, HTTP-free; the
S3 API calls it and translates its errors (objects.errors) into S3 error codes."""
