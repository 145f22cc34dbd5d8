"""Many bots on one server: small bots generated from CLINC150's domains (`bots`), their
disk use, memory, start-up and throughput measured in one run (`section`), rendered
(`report`)."""
