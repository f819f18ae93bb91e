"""Server: ingest, road sections, condition grades, the map, works plans and mobility views."""
