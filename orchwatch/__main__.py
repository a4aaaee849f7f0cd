from orchwatch.launch import run

run()
