# Plots the satellite benchmark (test/bench/satellite.sh): iperf3 goodput against random loss,
# one line per deployment, one panel per profile (rows) and direction (columns), each with its
# link capacity as a dashed horizontal line. Goodput spans three decades between end-to-end
# CUBIC under loss and a PEP near capacity, hence the logarithmic y axis.
#
# Variables (gnuplot -e):
#   outfile     PNG to write
#   datadir     holds PROFILE-DIRECTION.dat: a header "loss_pct DEP1 DEP2 ...", then one row
#               per loss (in %) with each deployment's median goodput in Mbit/s, "?" if none
#   profiles    e.g. "geo leo";  directions  e.g. "download upload"
#   ndeps       number of deployment columns
#   cap_PROFILE_DIRECTION   link capacity in Mbit/s, e.g. cap_geo_download=50

rows = words(profiles)
cols = words(directions)
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 640 * cols, 440 * rows font "DejaVu Sans,10" linewidth 1.5
} else {
    set terminal png size 640 * cols, 440 * rows
}
set output outfile
set datafile missing "?"
set logscale y
set grid ytics mytics xtics lc rgb "#dddddd"
set key bottom left box opaque
set xlabel "random loss, each direction (%)"
set ylabel "goodput (Mbit/s, log scale)"
set offsets 0.3, 0.3, 0, 0
set multiplot layout rows, cols title "pepsal satellite benchmark: iperf3 stream goodput vs. loss"
do for [p in profiles] {
    do for [d in directions] {
        cap = value("cap_" . p . "_" . d)
        f = datadir . "/" . p . "-" . d . ".dat"
        set title sprintf("%s, %s (link %g Mbit/s)", p, d, cap)
        set yrange [0.05 : cap * 2]
        # lt i - 1: a deployment keeps its colour even when another has no point to plot.
        # Shrinking markers of different shapes and dash patterns keep coinciding lines (a
        # gateway PEP cannot speed up the client's own uploads) visible.
        plot for [i = 2 : ndeps + 1] f using 0 : i : xtic(1) with linespoints lt (i - 1) lw 2 \
                 dt i - 1 pt (word("7 5 9 11 13 15", i - 1) + 0) ps (2.2 - 0.5 * (i - 2)) \
                 title columnheader(i), \
             cap with lines dt 2 lc rgb "black" title "link capacity"
    }
}
unset multiplot
