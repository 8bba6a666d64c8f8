"""Operations: the admin REST API, the metrics endpoint and the dashboard (to come)."""
