from qrexp.experiment.cli import main

main()
