from stylefit.cli import main

main()
