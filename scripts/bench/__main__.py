from scripts.bench.run import main

main()
