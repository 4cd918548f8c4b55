"""Auth: how the collection gets its bearer token (the inject-auth stage) and Postman auth
objects."""
