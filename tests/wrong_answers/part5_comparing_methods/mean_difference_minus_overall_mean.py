# targets: test_mean_difference
# Subtracts the mean of all rows, which with unbalanced classes is not the negatives' mean.
def mean_difference(acts, labels):
    return acts[labels == 1].mean(0) - acts.mean(0)
