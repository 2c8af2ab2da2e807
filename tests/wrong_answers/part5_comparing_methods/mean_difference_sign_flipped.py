# targets: test_mean_difference
# Negatives minus positives: the vector points away from the concept.
def mean_difference(acts, labels):
    return acts[labels == 0].mean(0) - acts[labels == 1].mean(0)
