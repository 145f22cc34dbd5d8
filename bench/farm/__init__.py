"""Many bots on one server: small bots generated from CLINC150's domains (`bots`), their
disk use, memory, start-up and throughput measured in one run (`section`), rendered
(`report`); copies of one export that differ only in their heads (`copies`) and clients
spread over them, with a reload under traffic (`traffic`), for tests and before/after runs."""
