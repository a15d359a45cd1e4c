"""`aladia serve`: the health API, Prometheus metrics and a live dashboard over the whole pipeline (a layer above
`flows`, below `cli`): `observe` gathers (the components' probes, the warehouse's batch figures, lag), `metrics`
exposes, `app` serves, `server` runs it with uvicorn and stops it gracefully."""
