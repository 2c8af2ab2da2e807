# targets: test_raw_probe
# Uses the standardised weights on raw activations.
def raw_probe(probe):
    return probe["w"], probe["b"] - probe["mean"] @ probe["w"]
