# targets: test_mean_difference
# Averages each row over its dimensions instead of each dimension over the rows.
def mean_difference(acts, labels):
    return acts[labels == 1].mean(1) - acts[labels == 0].mean(1)
