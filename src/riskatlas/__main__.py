from riskatlas.cli import main

main()
