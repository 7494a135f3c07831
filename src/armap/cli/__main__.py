from armap.cli.main import main

main()
