"""The source database: schema, bootstrap (`aladia init`), seed data and the workload simulator."""
