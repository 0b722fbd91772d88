# pareto.gp - Precision@K vs the full model's top-K against compute, one panel
# per K, points per policy (or --series), the Pareto front as a step line.
show_front = 1
show_ref = 0
y_is_fraction = 1
ylab = "Precision@K vs the full model's top-K"
default_title = (xsel eq 'latency') ? "Precision@K vs predicted latency, and the Pareto front" \
                                    : "Precision@K vs compute, and the Pareto front"
load plotdir . '/sweep-panels.gp'
