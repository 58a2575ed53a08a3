"""`s3free bench`: a load generator for any S3 endpoint (our warp).

client (HTTP/1.1 keep-alive + SigV4 UNSIGNED-PAYLOAD) -> s3ops (the S3 calls) ->
workloads (what one operation does) -> runner (workers, phases, autoterm, clean-up) ->
stats (percentiles, series) -> report (table, JSON). See docs/performance.md.
"""
