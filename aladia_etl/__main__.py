from aladia_etl.cli import main

main()
