# common.gp - settings shared by every plot. plot.sh loads, in one gnuplot
# session: the terminal (pngcairo or svg, 1200x800, font ",12"), vars.gp (data
# directory, series names, counts, ranges, the title note), this file, then
# the plot's own script (pareto.gp, stability.gp, ...).
set encoding utf8
set termoption noenhanced          # names like overlap_at_10 or W=2+chunk print as written
set datafile separator "\t"        # plot.sh writes tab-separated data
set grid back lt 1 lc rgb "#d0d0d0" lw 1, lt 1 lc rgb "#ececec" lw 1
set tics out nomirror
set border 3 lw 1
set key opaque box lc rgb "#b0b0b0" samplen 2.5 spacing 1.15
set title font ",14"

# Okabe-Ito colours (distinguishable with colour-vision deficiencies), cycled
# with 10 point types so that up to 40 series stay distinct.
array palette[8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
array ptypes[10] = [7, 5, 9, 11, 13, 15, 6, 4, 8, 12]
do for [i = 1:40] {
    set style line i lc rgb palette[(i - 1) % 8 + 1] pt ptypes[(i - 1) % 10 + 1] ps 1.5 lw 2
}

# Title: the plot's own line (or --title), then the --title-note line.
title_text(default) = (strlen(main_title) > 0 ? main_title : default) . (strlen(note) > 0 ? "\n" . note : "")
dat(name) = datadir . '/' . name
