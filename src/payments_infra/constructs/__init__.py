"""One construct per AWS concern. Each takes the environment's config, the naming helper and the
constructs it needs, and creates the glue between them (grants, permissions, triggers) itself."""
