"""Results: the records a cell writes (`records`), the tables, statistics and leaderboard
rendered from them (`leaderboard`, `stats`, `power`), comparison with the committed
reference (`compare`), figures and the results page (`plots`, `report`,
`report_figures`), and a sweep's folders and table (`sweeps`). Never runs a cell."""
