module rx-tcp/test/flood/attacker

go 1.22
