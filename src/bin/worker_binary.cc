// The stock eddy-worker: main() comes from the eddy_worker_main library (worker_main.cc), and no
// functions are linked in; embedded functions come from the libraries module.yaml names.
