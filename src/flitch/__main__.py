from flitch.cli import main

main()
