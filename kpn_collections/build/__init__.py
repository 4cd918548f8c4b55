"""Build stage: Api -> Postman Collection v2.1 (items, examples, contract tests, rendered text,
schema check)."""
