from netstat.cli import main

main()
