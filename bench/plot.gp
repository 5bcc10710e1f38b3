# bench/plot.gp: the chart of one bench run. Called by bench/report.py with
#   datadir  folder holding throughput.dat, roundtrip.dat, bulk.dat, push.dat,
#            broadcast.dat, telemetry.dat, snapshot.dat, probes.dat, and with
#            the engine benchmark engine.dat (from the run's JSON)
#   out, kind ('svg' or 'png'), title, rtprobe (median probe of the latency
#   case, ns), spscitems (items per throughput run), engine (1 when engine.dat
#   has rows), period (the engine's block period, us)
# Every panel shows one run's medians with min-max bars; compare bars within a
# panel, never across runs.
if (kind eq 'png') {
  set terminal pngcairo size 1400,2500 font 'sans,10' noenhanced
} else {
  set terminal svg size 1400,2500 dynamic font 'sans,11' noenhanced background '#ffffff'
}
set output out
set multiplot layout 5,2 title title font ',14'

set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.75 border -1
set boxwidth 0.9
set grid ytics
set key top right
set logscale y
set format y '%g'
set xtics rotate by 25 right nomirror
set bmargin 6

set title '1. SPSC throughput ('.spscitems.' items/run, single-item)'
set ylabel 'M items/s (log)'
plot datadir.'/throughput.dat' using 2:3:4:xtic(1) title 'capacity 4096' lc rgb '#1f77b4', \
     '' using 5:6:7 title 'capacity 65536' lc rgb '#ff7f0e'

set title '2. SPSC round trip, median (line: cache-line probe)'
set ylabel 'ns (log)'
plot datadir.'/roundtrip.dat' using 2:3:4:xtic(1) title 'median round trip' lc rgb '#2ca02c', \
     rtprobe with lines dt 2 lw 2 lc rgb '#000000' title sprintf('probe %.0f ns', rtprobe)

set title '3. Audio bulk transfer, stereo float blocks'
set ylabel 'Msamples/s (log)'
plot datadir.'/bulk.dat' using 2:3:4:xtic(1) title '128 frames' lc rgb '#9467bd', \
     '' using 5:6:7 title '256 frames' lc rgb '#8c564b'

set title '5. Push: std::mutex try_lock vs nowait'
set ylabel 'ns per push (log)'
plot datadir.'/push.dat' using 2:3:4:xtic(1) title 'uncontended' lc rgb '#17becf', \
     '' using 5:6:7 title 'contended' lc rgb '#d62728'

set title '6. Telemetry: 21 updates x 10,000 records, per writer thread'
set ylabel 'ns per batch (log)'
plot datadir.'/telemetry.dat' using 2:3:4:xtic(1) title '1 writer' lc rgb '#1f77b4', \
     '' using 5:6:7 title '2 writers' lc rgb '#ff7f0e'

set title '4. Broadcast: writer cost per 2 KiB block vs readers'
set style data linespoints
set xtics norotate (0, 1, 2, 4)
set xrange [-0.3:4.3]
set xlabel 'readers (all on the other core)'
set ylabel 'ns per block (log)'
set key top left
plot datadir.'/broadcast.dat' using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' title 'nowait, flat out (mean)', \
     '' using 1:5:6:7 with yerrorlines lw 2 pt 5 lc rgb '#d62728' title 'mutex + queues, flat out', \
     '' using 1:8:9:10 with yerrorlines lw 2 pt 7 dt 2 lc rgb '#1f77b4' title 'nowait, paced (median write)', \
     '' using 1:11:12:13 with yerrorlines lw 2 pt 5 dt 2 lc rgb '#d62728' title 'mutex + queues, paced'

set title '7. Snapshots: writer cost per publish vs readers (all on core B)'
set xtics norotate (0, 1, 2, 8)
set xrange [-0.3:8.3]
set xlabel 'readers'
set ylabel 'ns per publish (log)'
plot datadir.'/snapshot.dat' using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' title 'nowait SeqlockCell, 64 B', \
     '' using 1:5:6:7 with yerrorlines lw 2 pt 5 lc rgb '#d62728' title 'mutex + struct, 64 B', \
     '' using 1:8:9:10 with yerrorlines lw 2 pt 7 dt 2 lc rgb '#2ca02c' title 'nowait SharedSnapshot, 1 KiB', \
     '' using 1:11:12:13 with yerrorlines lw 2 pt 5 dt 2 lc rgb '#9467bd' title 'mutex + struct, 1 KiB'

set title 'Cache-line probe before every run (run order)'
unset logscale y
set autoscale
set xtics auto
unset xrange
set xlabel 'run'
set ylabel 'round trip ns'
set yrange [0:*]
unset key
plot datadir.'/probes.dat' using 1:2 with points pt 7 ps 0.5 lc rgb '#444444'

if (engine) {
  set title 'Engine (issue 5): process() per block vs stereo inputs, idle (line: block period)'
  set logscale y
  set yrange [*:*]
  set xlabel 'stereo inputs'
  set ylabel 'us (log)'
  set key bottom right
  plot datadir.'/engine.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'nowait p99', \
       '' using 1:3 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'mutex + deque p99', \
       '' using 1:4 with linespoints lw 1 pt 7 dt 2 lc rgb '#1f77b4' title 'nowait max', \
       '' using 1:5 with linespoints lw 1 pt 5 dt 2 lc rgb '#d62728' title 'mutex + deque max', \
       period with lines lw 2 dt 3 lc rgb '#000000' title sprintf('period %.0f us', period)
}

unset multiplot
