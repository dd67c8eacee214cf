module github.com/sagequeue/sagequeue

go 1.26.8
