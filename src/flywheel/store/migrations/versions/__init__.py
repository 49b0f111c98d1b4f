"""Named, append-only migrations. Never edit one that has shipped: add the next one."""
