module nri-rs.example/go-adjuster

go 1.24
