"""Many bots on one server: bots that share an encoder and differ in their heads, and the
server measured over them (RSS, start to SERVING, throughput spread over bots, reload)."""
