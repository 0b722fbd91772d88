# ndcg-compute.gp - nDCG@10 against the dataset's qrels vs compute, one panel
# per K, points per policy (or --series), the full model as a dashed line.
show_front = 0
show_ref = 1
y_is_fraction = 0
ylab = "nDCG@10 vs qrels (final order of all N candidates)"
default_title = (xsel eq 'latency') ? "nDCG@10 vs predicted latency" : "nDCG@10 vs compute"
load plotdir . '/sweep-panels.gp'
