# targets: test_raw_probe
# Divides by the std but leaves the bias as it was.
def raw_probe(probe):
    return probe["w"] / probe["std"], probe["b"]
